// Command hello is what TestBuild builds: it prints "hello" and exits 0.
package main

import "fmt"

func main() { fmt.Println("hello") }
