# The payments tool only for tasks approved by someone in the finance group.
package delegation

import rego.v1

deny contains {"id": "tool-by-group", "reason": "payments.send is for tasks approved by the finance group"} if {
	input.request.tool == "payments.send"
	not input.task.approver in data.groups.finance
}
