# A payment above 10,000 needs a human's approval through the finance approval service.
# Rego compares values of different types without an error ("20000" > 10000 is not true), so
# an amount that is not a number counts as large: the rule cannot be dodged by sending text.
package delegation

import rego.v1

deny contains {"id": "payment-approval", "reason": "payments above 10000 need an approval by the finance approval service"} if {
	input.request.action == "pay"
	large
	not finance_approved
}

large if {
	is_number(input.request.args.amount)
	input.request.args.amount > data.payments.approval_above
}

large if {
	"amount" in object.keys(input.request.args)
	not is_number(input.request.args.amount)
}

finance_approved if {
	some approval in input.approvals
	approval.service in data.payments.approval_services
}
