package collect

import "context"

// early is work started before its result is needed, such as reading the
// store while the Audit Log is read; wait returns its error.
type early struct {
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

func startEarly(ctx context.Context, fn func(context.Context) error) *early {
	ctx, cancel := context.WithCancel(ctx)
	e := &early{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(e.done)
		e.err = fn(ctx)
	}()
	return e
}

// wait waits for the work; a nil early is work that was never needed.
func (e *early) wait(ctx context.Context) error {
	if e == nil {
		return nil
	}
	select {
	case <-e.done:
		return e.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// abandon stops work whose result will not be used, and waits for it.
func (e *early) abandon() {
	if e != nil {
		e.cancel()
		<-e.done
	}
}
