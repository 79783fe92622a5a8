package adosim

// Identities (IMS) are written by a helper; see identityRoutes.
func (s *Server) identityRoutes() []*route { return nil }
