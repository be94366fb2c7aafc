package channel

type rsaClientHS struct{}
type rsaServerHS struct{}

func rsaClientHello(cfg *ClientConfig) (*rsaClientHS, []byte, error) { return nil, nil, ErrConfig }
func (hs *rsaClientHS) response(cfg *ClientConfig, msg []byte) ([]byte, *session, error) {
	return nil, nil, ErrConfig
}
func rsaServerHello(cfg *ServerConfig, msg []byte) (*rsaServerHS, []byte, error) {
	return nil, nil, ErrConfig
}
func (hs *rsaServerHS) confirm(cfg *ServerConfig, msg []byte) (*session, error) {
	return nil, ErrConfig
}
