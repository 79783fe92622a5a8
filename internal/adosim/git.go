package adosim

import (
	"net/http"
	"strings"
)

// Git repositories, on the organization URL. The list is not paged:
// without a project it answers every repository of the organization.

func (s *Server) gitRoutes() []*route {
	const r, w = "vso.code", "vso.code_manage"
	h := hostOrg
	return []*route{
		newRoute(h, http.MethodGet, "_apis/git/repositories", "git.repositories.list", r, s.listRepos),
		newRoute(h, http.MethodGet, "{p}/_apis/git/repositories", "git.repositories.list", r, s.listRepos),
		newRoute(h, http.MethodGet, "_apis/git/repositories/{id}", "git.repositories.get", r, s.getRepo),
		newRoute(h, http.MethodGet, "{p}/_apis/git/repositories/{id}", "git.repositories.get", r, s.getRepo),
		newRoute(h, http.MethodPost, "{p}/_apis/git/repositories", "git.repositories.create", w, s.createRepo),
		newRoute(h, http.MethodPost, "_apis/git/repositories", "git.repositories.create", w, s.createRepo),
		newRoute(h, http.MethodPatch, "{p}/_apis/git/repositories/{id}", "git.repositories.update", w, s.updateRepo),
		newRoute(h, http.MethodDelete, "{p}/_apis/git/repositories/{id}", "git.repositories.delete", w, s.deleteRepo),
		newRoute(h, http.MethodDelete, "_apis/git/repositories/{id}", "git.repositories.delete", w, s.deleteRepo),
	}
}

func (o *Org) repoJSON(r *Repo) []byte {
	p := o.projectByID[r.ProjectID]
	org := o.hostURL(hostOrg)
	return mustJSON(map[string]any{
		"id": r.ID, "name": r.Name,
		"url":             org + "/" + p.ID + "/_apis/git/repositories/" + r.ID,
		"project":         o.projectRef(p),
		"defaultBranch":   r.DefaultBranch,
		"size":            r.Size,
		"remoteUrl":       org + "/" + p.Name + "/_git/" + r.Name,
		"webUrl":          org + "/" + p.Name + "/_git/" + r.Name,
		"isDisabled":      r.IsDisabled,
		"isInMaintenance": false,
	})
}

func (s *Server) listRepos(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	var p *Project
	if c.params["p"] != "" {
		if p = c.project(); p == nil {
			return
		}
	}
	var items [][]byte
	for _, r := range o.repos {
		if !r.Deleted && (p == nil || r.ProjectID == p.ID) {
			items = append(items, c.o.repoJSON(r))
		}
	}
	writeList(c.w, items)
}

// repo resolves {id} (id, or name within {p}) or writes the 404.
func (c *call) repo() *Repo {
	key := c.param("id")
	var p *Project
	if c.params["p"] != "" {
		if p = c.project(); p == nil {
			return nil
		}
	}
	for _, r := range c.o.repos {
		if r.Deleted {
			continue
		}
		if strings.EqualFold(r.ID, key) || (p != nil && r.ProjectID == p.ID && strings.EqualFold(r.Name, key)) {
			return r
		}
	}
	writeError(c.w, http.StatusNotFound, "GitRepositoryNotFoundException", "TF401019: The Git repository with name or identifier "+key+" does not exist or you do not have permissions for the operation you are attempting.")
	return nil
}

func (s *Server) getRepo(c *call) {
	c.o.mu.RLock()
	defer c.o.mu.RUnlock()
	if r := c.repo(); r != nil {
		writeRaw(c.w, http.StatusOK, c.o.repoJSON(r))
	}
}

func (s *Server) createRepo(c *call) {
	var body struct {
		Name    string `json:"name"`
		Project struct {
			ID string `json:"id"`
		} `json:"project"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	key := c.param("p")
	if key == "" {
		key = body.Project.ID
	}
	p := o.projectByNameOrID(key)
	if p == nil {
		writeError(c.w, http.StatusNotFound, "ProjectDoesNotExistWithNameException", "TF200016: The following project does not exist: "+key+".")
		return
	}
	if body.Name == "" {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "TF401025: A repository name is required.")
		return
	}
	r, err := o.CreateRepo(o.admin, p, body.Name)
	if err != nil {
		c.fail(err)
		return
	}
	writeRaw(c.w, http.StatusCreated, c.o.repoJSON(r))
}

func (s *Server) updateRepo(c *call) {
	var body struct {
		Name string `json:"name"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	r := c.repo()
	if r == nil {
		return
	}
	if body.Name != "" && body.Name != r.Name {
		o.RenameRepo(o.admin, r, body.Name)
	}
	writeRaw(c.w, http.StatusOK, c.o.repoJSON(r))
}

func (s *Server) deleteRepo(c *call) {
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	r := c.repo()
	if r == nil {
		return
	}
	o.DeleteRepo(o.admin, r)
	c.w.WriteHeader(http.StatusNoContent)
}
