// Package halpb is the generated Go code of the fpemu fingerprint HAL north
// API (fingerprint.proto): the gRPC mirror of
// android.hardware.biometrics.fingerprint@2.1. Package hal serves it and
// package hal/halclient wraps the client side; use those rather than this
// package directly.
//
// The .pb.go files are generated and committed, so building and testing
// never need protoc. They were produced with protoc 3.21.12,
// protoc-gen-go v1.36.12 and protoc-gen-go-grpc 1.6.2:
//
//	PATH=$PATH:$(go env GOPATH)/bin go generate ./hal/halpb
package halpb

//go:generate protoc -I ../.. --go_out=../.. --go_opt=paths=source_relative --go-grpc_out=../.. --go-grpc_opt=paths=source_relative hal/halpb/fingerprint.proto
