# No writes to production outside business hours: 09:00 to 17:00 UTC.
package delegation

import rego.v1

deny contains {"id": "business-hours", "reason": "writes to production only between 09:00 and 17:00 UTC"} if {
	input.request.action == "write"
	input.request.audience == "prod"
	[hour, _, _] := time.clock([input.context.time * 1000000000, "UTC"])
	not hour_open(hour)
}

hour_open(hour) if {
	hour >= data.business_hours.open
	hour < data.business_hours.close
}
