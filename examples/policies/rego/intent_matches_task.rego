# A call declares an intent, and it is one the task declared when it was approved.
package delegation

import rego.v1

deny contains {"id": "intent-matches-task", "reason": "the call's intent must be one the task declared"} if {
	not intent_declared
}

intent_declared if {
	input.request.intent != null
	input.task.intents != null
	input.request.intent in input.task.intents
}
