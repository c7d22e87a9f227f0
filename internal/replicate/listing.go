package replicate

import "net/http"

func (s *Store) registerListRoutes(mux *http.ServeMux) {}
