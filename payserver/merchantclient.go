package payserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxAnswer bounds what CreateOrder reads of the server's answer: an
// order is well under it.
const maxAnswer = 64 << 10

// CreateOrder is the merchant's POST /v1/orders on the merchant API at
// addr (host:port) with idempotency key. created is true for 201 (a new
// order) and false for 200 (the key's order again); any other answer is
// an error naming the status and the API's error code. At most 64 KiB of
// the answer is read.
func CreateOrder(ctx context.Context, addr, key string, o OrderRequest) (got OrderJSON, created bool, err error) {
	body, err := json.Marshal(o)
	if err != nil {
		return OrderJSON{}, false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/orders", bytes.NewReader(body))
	if err != nil {
		return OrderJSON{}, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return OrderJSON{}, false, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = dec.Decode(&e)
		return OrderJSON{}, false, fmt.Errorf("POST /v1/orders: %s (%s)", resp.Status, e.Error)
	}
	if err := dec.Decode(&got); err != nil {
		return OrderJSON{}, false, fmt.Errorf("POST /v1/orders: %w", err)
	}
	return got, resp.StatusCode == http.StatusCreated, nil
}
