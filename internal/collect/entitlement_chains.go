package collect

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/licensing"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/memberentitlementmanagement"
)

// User entitlements come 100 a page, each page asking for the next with the
// previous one's continuation token: the sync's one sequential chain, and so
// the floor of a full sync (501 pages on 50,000 users). The search has no
// way to ask for page k directly, and its documented $filters give no safe
// split (license names are an open set, user types split 92/8, a name
// filter means "contains"). It does document $orderBy=name asc|desc, so the
// chain is read from both ends at once, each end with a request slot of its
// own, and stops where they meet: half the length, the same rows.
//
// Where they meet is known from the rows: an end that gets a row the other
// end delivered has crossed it. Display names tie, and the service may
// order ties the same way in both directions, so a crossing alone could
// step over a row inside a run of equal names; the read also needs as many
// distinct rows as the page's totalCount. Without a totalCount, or when the
// rows never add up (users added during the read), each end reads on to its
// own last page: never fewer rows than one chain, at worst twice its
// requests.

type userEntitlementPage struct {
	Members           []memberentitlementmanagement.UserEntitlement `json:"members"`
	ContinuationToken *string                                       `json:"continuationToken"`
}

// chainPage is a page of the full read, decoded into what it keeps: the v7
// UserEntitlement decodes the whole user subject (names, links) that the
// accounts step reads already, kilobytes a row with pages of two ends in
// flight.
type chainPage struct {
	Members           []chainEntitlement `json:"members"`
	ContinuationToken *string            `json:"continuationToken"`
	TotalCount        int                `json:"totalCount"`
}

type chainEntitlement struct {
	ID   *uuid.UUID `json:"id"`
	User *struct {
		Descriptor *string `json:"descriptor"`
	} `json:"user"`
	AccessLevel      *licensing.AccessLevel                          `json:"accessLevel"`
	GroupAssignments *[]memberentitlementmanagement.GroupEntitlement `json:"groupAssignments"`
	DateCreated      *azuredevops.Time                               `json:"dateCreated"`
	LastAccessedDate *azuredevops.Time                               `json:"lastAccessedDate"`
}

// pagesAhead is how many pages of user entitlements the ends may read
// ahead of the writer: the next page is asked for at once, not after the
// rows of this one have queued behind other tables' writes.
const pagesAhead = 32

// chainRestarts is how many times one end starts over after its
// continuation token expired.
const chainRestarts = 3

// bothEnds is the state two ends of the chain share.
type bothEnds struct {
	mu    sync.Mutex
	seen  map[string]byte // a row's key → the end that delivered it
	total int             // totalCount of the newest page
	met   bool            // an end got a row the other one delivered
	live  int             // ends reading
	done  chan struct{}   // closed once every row is in
	stop  func()          // cancels the requests of both ends
	once  sync.Once
}

// finish says every row is in: the other end's request in flight is
// cancelled.
func (b *bothEnds) finish() {
	b.once.Do(func() {
		close(b.done)
		b.stop()
	})
}

// take keeps the rows of end's page no end delivered before, and reports
// whether the rows are now complete.
func (b *bothEnds) take(end byte, page *chainPage) (fresh []chainEntitlement, complete bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if page.TotalCount > 0 {
		b.total = page.TotalCount
	}
	for _, m := range page.Members {
		key := entitlementKey(&m)
		if key == "" {
			fresh = append(fresh, m) // nothing to tell it by; putEntitlement skips it
			continue
		}
		if by, ok := b.seen[key]; ok {
			b.met = b.met || by != end
			continue
		}
		b.seen[key] = end
		fresh = append(fresh, m)
	}
	return fresh, b.met && b.total > 0 && len(b.seen) >= b.total
}

// leave lets an end whose continuation token expired stop instead of
// starting over, when another end is still reading: that end reads on
// until it meets the rows this one delivered.
func (b *bothEnds) leave() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.live > 1 {
		b.live--
		return true
	}
	return false
}

func (b *bothEnds) ended() {
	b.mu.Lock()
	b.live--
	b.mu.Unlock()
}

func entitlementKey(m *chainEntitlement) string {
	if m.User != nil && m.User.Descriptor != nil && *m.User.Descriptor != "" {
		return *m.User.Descriptor
	}
	if m.ID != nil {
		return m.ID.String()
	}
	return ""
}

// readUserEntitlements reads every user entitlement: the access level
// (versioned), the last access (volatile) and the storage key. Both ends
// take their request slots at once (see Client.ownSlot), before the
// independent reads queue for them; the ascending end starts, and the
// descending end when the first page shows more rows to come. A client
// without slots to spare reads from one end.
func readUserEntitlements(ctx context.Context, e *env) error {
	// Requests go with reqs, which stops both ends when either fails or the
	// rows are complete; rows taken are always delivered, with ctx.
	reqs, cancel := context.WithCancel(ctx)
	defer cancel()
	var slotted [2]context.Context
	var release [2]func()
	for end := range e.c.ends() {
		var err error
		if slotted[end], release[end], err = e.c.ownSlot(reqs); err != nil {
			if end == 1 {
				release[0]()
			}
			return describe("list user entitlements", "entitlements", err)
		}
	}
	b := &bothEnds{seen: map[string]byte{}, done: make(chan struct{}), stop: cancel}
	pages := make(chan []chainEntitlement, pagesAhead)
	putErr := make(chan error, 1)
	go func() { putErr <- e.putEntitlements(ctx, pages) }()

	var wg sync.WaitGroup
	errs := make([]error, 2)
	started := make(chan int, 1) // how many rows remain after the first page
	run := func(end byte, order string, first chan<- int) {
		b.mu.Lock()
		b.live++
		b.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release[end]()
			errs[end] = e.readEnd(ctx, slotted[end], b, end, order, pages, first)
			if errs[end] != nil {
				cancel() // the other end stops too: the read failed
			}
		}()
	}
	run(0, "name asc", started)
	select {
	case more := <-started:
		if more > 0 && release[1] != nil {
			run(1, "name desc", nil)
		} else if release[1] != nil {
			release[1]()
		}
	case <-reqs.Done():
		if release[1] != nil {
			release[1]()
		}
	}
	wg.Wait()
	close(pages)
	err := errs[0]
	if err == nil || (errors.Is(err, context.Canceled) && errs[1] != nil) {
		err = errs[1] // the end that failed, not the one it stopped
	}
	select {
	case <-b.done:
	default:
		if err == nil {
			err = errors.New("the pages ended before every row was read") // never expected: ends stop only when done
		}
	}
	if perr := <-putErr; err == nil {
		err = perr
	}
	if err != nil {
		return describe("list user entitlements", "entitlements", err)
	}
	return nil
}

// readEnd pages from one end, its requests made with reqs (which holds
// the end's slot), until the rows are complete, the other end found them
// so, or its own last page. first, if set, hears how many rows remain
// after the first page (0: none, or no total to check against).
func (e *env) readEnd(ctx, reqs context.Context, b *bothEnds, end byte, order string, pages chan<- []chainEntitlement, first chan<- int) error {
	left := false
	defer func() {
		if !left {
			b.ended()
		}
	}()
	token, restarts := "", 0
	for {
		select {
		case <-b.done:
			return nil
		default:
		}
		q := url.Values{"$orderBy": {order}}
		if token != "" {
			q.Set("continuationToken", token)
		}
		var page chainPage
		if err := sendJSON(reqs, e.c.vsaex, http.MethodGet, locUserEntitlements, "7.1-preview.3", nil, q, &page); err != nil {
			if isExpiredToken(err) && b.leave() {
				left = true
				return nil // the other end reads on to meet this one's rows
			}
			if isExpiredToken(err) && restarts < chainRestarts {
				restarts++ // start this end over: the rows it read are kept, not put twice
				token = ""
				continue
			}
			return stopped(b, err)
		}
		fresh, complete := b.take(end, &page)
		select {
		case pages <- fresh:
		case <-ctx.Done():
			return stopped(b, ctx.Err())
		}
		last := page.ContinuationToken == nil || *page.ContinuationToken == ""
		if first != nil {
			remaining := 0
			if !last && page.TotalCount > len(page.Members) {
				remaining = page.TotalCount - len(page.Members)
			}
			first <- remaining
			first = nil
		}
		if complete || last {
			b.finish() // an end that read its last page read every row
			return nil
		}
		token = *page.ContinuationToken
	}
}

// stopped is nil for an end cut short because the other one completed the
// rows, err otherwise.
func stopped(b *bothEnds, err error) error {
	select {
	case <-b.done:
		return nil
	default:
		return err
	}
}

// putEntitlements writes the rows the ends deliver, one writer for both;
// after a failure it drains the rest.
func (e *env) putEntitlements(ctx context.Context, pages <-chan []chainEntitlement) error {
	var err error
	for members := range pages {
		for _, m := range members {
			if err == nil && m.User != nil {
				err = e.putEntitlement(ctx, m.User.Descriptor, m.ID, m.AccessLevel, m.GroupAssignments, m.DateCreated, m.LastAccessedDate)
			}
		}
	}
	return err
}
