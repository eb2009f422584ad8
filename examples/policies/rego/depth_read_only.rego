# Sub-agents two or more hops below the root holder may only read.
package delegation

import rego.v1

deny contains {"id": "depth-read-only", "reason": "agents at depth 2 and below may only read"} if {
	input.context.depth >= data.read_only_depth
	input.request.action != "read"
}
