package adosim

import "net/http"

func (s *Server) msgraphRoutes() []*route { return nil }

// writeGraphError writes Microsoft Graph's error body.
func writeGraphError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": message}})
}
