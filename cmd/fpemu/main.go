// Command fpemu is the one fpemu binary: every emulated process role (TAs,
// HAL, payment server, launcher) and every tool is a subcommand. Run
// "fpemu --help" for the list.
//
// Exit status: 0 success; 1 the input was processed and rejected (malformed
// or invalid token) or the command failed at run time; 2 usage error
// (unknown command or flag, missing or bad argument, unusable key).
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
