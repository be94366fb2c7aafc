// Command hello is what TestBuild and TestShared build: it prints its
// greeting ("hello", or what -ldflags "-X main.greeting=…" sets) and exits
// 0.
package main

import "fmt"

var greeting = "hello"

func main() { fmt.Println(greeting) }
