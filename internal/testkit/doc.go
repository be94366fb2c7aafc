// Package testkit is the test kit every fpemu test suite shares: a
// mutex-guarded buffer for the stderr that os/exec copies from child
// processes, the helpers that re-run a test binary as a child process (a
// TA, the HAL, a launcher, a crashing writer), the parent's handle on a
// started child (Start: its stdout lines, its exit, kill and reap when
// the test ends; NotRunning) and the child's serve-until-stopped loop
// (StopContext, ParentContext), the short temporary
// directories and bounded contexts those children need, the root guard of
// the cross-uid tests (NeedRoot), the import-boundary check (LinksNone)
// and the build of the fpemu binary for tests that run it (BuildFpemu
// into a test's directory; Shared, one build for a whole test binary that
// its TestMain removes), and DocSection, the part of README.md or a
// docs/ file that a test keeps in step with the code.
//
// It imports nothing from fpemu, so any package's tests can use it, the
// launcher's (sim/device) included. It is for tests only: no production
// code imports it.
package testkit
