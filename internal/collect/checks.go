package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Checks and approvals on a project's pipeline resources, read with the
// Check Configurations - Query operation (POST
// {project}/_apis/pipelines/checks/queryconfigurations?$expand=settings):
// one request names many resources, so a project costs one request (one
// per checkChunk resources), never one per resource. The v7
// pipelineschecks client's model has neither the settings nor isDisabled,
// so the answer is decoded here. Reading needs Build (Read), vso.build.

// checkChunk is the most resources named in one query.
const checkChunk = 100

const kindChecks = "checks"

// checkResource names a resource whose checks to read.
type checkResource struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// checkConfig is one answer row; settings are an Approval's (a task
// check's carry a displayName and its task's inputs, of which nothing but
// the name is kept).
type checkConfig struct {
	ID   int64 `json:"id"`
	Type struct {
		Name string `json:"name"`
	} `json:"type"`
	Resource   checkResource `json:"resource"`
	IsDisabled bool          `json:"isDisabled"`
	Timeout    int64         `json:"timeout"`
	CreatedBy  *struct {
		ID string `json:"id"`
	} `json:"createdBy"`
	Settings struct {
		DisplayName string `json:"displayName"`
		Approvers   []struct {
			ID string `json:"id"`
		} `json:"approvers"`
		MinRequiredApprovers int64 `json:"minRequiredApprovers"`
	} `json:"settings"`
}

// checkRows reads the checks on the resources of one project: rows of
// resource_checks, and false when the credential may not read them (the
// table is then left as it was).
func (r *pipeRun) checkRows(ctx context.Context, project string, res []checkResource) ([]snapshot.Row, bool, error) {
	if r.isDenied(kindChecks) {
		return nil, false, nil
	}
	var rows []snapshot.Row
	for chunk := range slices.Chunk(res, checkChunk) {
		list, err := r.queryChecks(ctx, project, chunk)
		if err != nil {
			if notFound(err) {
				return nil, true, nil // the project went meanwhile
			}
			denied, err := r.forbidden(kindChecks, "read the checks of project "+project, "pipelinepermissions", err)
			if denied {
				return nil, false, nil
			}
			return nil, false, err
		}
		for _, c := range list {
			rows = append(rows, checkRow(project, c))
		}
	}
	return rows, true, nil
}

func (r *pipeRun) queryChecks(ctx context.Context, project string, res []checkResource) ([]checkConfig, error) {
	c := r.e.c
	body, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	u := c.Org + "/" + url.PathEscape(project) + "/_apis/pipelines/checks/queryconfigurations?$expand=settings"
	req, err := c.pipes.org.CreateRequestMessage(ctx, http.MethodPost, u, "7.1-preview.1", bytes.NewReader(body), "application/json", "application/json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.pipes.org.SendRequest(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	var list struct {
		Value []checkConfig `json:"value"`
	}
	if err := decodeBody(resp, &list); err != nil {
		return nil, fmt.Errorf("read the checks of project %s: %w", project, err)
	}
	return list.Value, nil
}

// checkRow is a check as resource_checks keeps it: approvers as a sorted
// JSON array of identity ids.
func checkRow(project string, c checkConfig) snapshot.Row {
	approvers := []string{}
	for _, a := range c.Settings.Approvers {
		if a.ID != "" {
			approvers = append(approvers, strings.ToLower(a.ID))
		}
	}
	slices.Sort(approvers)
	approvers = slices.Compact(approvers)
	list, _ := json.Marshal(approvers)
	createdBy := ""
	if c.CreatedBy != nil {
		createdBy = strings.ToLower(c.CreatedBy.ID)
	}
	return snapshot.Row{project, strings.ToLower(c.Resource.Type), strings.ToLower(c.Resource.ID), c.ID, c.Type.Name,
		c.Settings.DisplayName, boolInt(c.IsDisabled), c.Timeout, string(list), c.Settings.MinRequiredApprovers, createdBy}
}

// checksOf are the rows of one kind of resource.
func checksOf(rows []snapshot.Row, permType string) []snapshot.Row {
	var out []snapshot.Row
	for _, row := range rows {
		if row[1] == permType {
			out = append(out, row)
		}
	}
	return out
}
