//go:build !race

package rpc

const poisonArenas = false
