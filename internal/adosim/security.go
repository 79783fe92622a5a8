package adosim

// aclKey names one access control list: a security namespace and a token.
type aclKey struct{ namespace, token string }

// ace is an explicit access control entry set through the API.
type ace struct {
	descriptor  string
	allow, deny int
}

func (s *Server) securityRoutes() []*route { return nil }
