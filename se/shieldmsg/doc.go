// Package shieldmsg is what the shield card and the payment server sign
// for each other in seed 002's login and transaction flows
// (docs/protocol.md §15.6): the labelled messages, the pre-submit record
// and the confirmation body. It is pure (no I/O, no keys) so that the
// card (se/card) and the server (payserver) build byte-identical inputs
// without the server linking the card's sealed store.
//
// Every message starts with a distinct label under card.SignLabelPrefix
// ("fpemu/se/"), and PSO COMPUTE DIGITAL SIGNATURE refuses input with
// that prefix, so no signature of one kind can be passed off as another
// (a login answer as a transaction confirmation, a server login random as
// a server pre-submit, a free-form PSO signature as either).
package shieldmsg
