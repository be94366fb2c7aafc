package device

import "github.com/fpemu/fpemu/tee"

// RunnableRoles are the roles fpemu runs a TA process for (`fpemu ta
// <role>`, package sim/tas), in boot order.
var RunnableRoles = []tee.Role{tee.RoleKeymaster, tee.RoleGatekeeper, tee.RoleFingerprint, tee.RolePayment}
