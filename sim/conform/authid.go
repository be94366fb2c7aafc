package conform

import (
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/tokens"
)

// authenticatorIDEmptyTest: 0 with no template, and again once the last
// is removed.
func authenticatorIDEmptyTest(t *T) {
	t.notify()
	t.fresh(gidAuthIDEmpty)
	if id := t.authenticatorID(); id != 0 {
		t.Fatalf("getAuthenticatorId() = %#x with no template in group %d, want 0", id, gidAuthIDEmpty)
	}
	if !t.r.has(enrollAndAuthNeeds) {
		return // the removal half needs an enrollment
	}
	e := t.enroll(gidAuthIDEmpty, fingerA)
	if id := t.authenticatorID(); id == 0 {
		t.Fatalf("getAuthenticatorId() = 0 with a template enrolled")
	}
	t.remove(gidAuthIDEmpty, e.fid)
	if id := t.authenticatorID(); id != 0 {
		t.Errorf("getAuthenticatorId() = %#x after removing the last template, want 0", id)
	}
}

// authenticatorIDEnrollTest: a new id on every enrollment.
func authenticatorIDEnrollTest(t *T) {
	t.notify()
	t.fresh(gidAuthIDEnroll)
	seen := map[uint64]int{}
	for i, f := range []*finger.Finger{fingerA, fingerB, fingerC} {
		t.enroll(gidAuthIDEnroll, f)
		id := t.authenticatorID()
		if id == 0 {
			t.Fatalf("getAuthenticatorId() = 0 after enrollment %d", i+1)
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("getAuthenticatorId() = %#x after enrollment %d, the same as after enrollment %d: it must change whenever a new fingerprint is enrolled", id, i+1, prev)
		}
		seen[id] = i + 1
	}
}

// authenticatorIDRemoveTest: removing one of two templates keeps the id.
func authenticatorIDRemoveTest(t *T) {
	t.notify()
	t.fresh(gidAuthIDRemove)
	a := t.enroll(gidAuthIDRemove, fingerA)
	b := t.enroll(gidAuthIDRemove, fingerB)
	id := t.authenticatorID()
	t.remove(gidAuthIDRemove, b.fid)
	if after := t.authenticatorID(); after != id {
		t.Errorf("getAuthenticatorId() changed from %#x to %#x when one of two templates was removed", id, after)
	}
	res := t.authenticate(gidAuthIDRemove, randomID(), probeTouches(fingerA))
	if res.match.FingerID != a.fid {
		t.Errorf("%v, want fingerId %d", res.match, a.fid)
	}
	tok, err := tokens.Parse(res.match.HAT)
	if err != nil {
		t.Fatalf("onAuthenticated token: %v", err)
	}
	if tok.AuthenticatorID != id {
		t.Errorf("HAT authenticator_id %#x after the removal, want %#x", tok.AuthenticatorID, id)
	}
}
