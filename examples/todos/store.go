package main

import (
	"strconv"
	"sync"
)

// todo is one item of the shared list, as it appears on the wire.
type todo struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Done  bool   `json:"done"`
	Owner string `json:"owner"`
}

// completeResult is the outcome of store.complete.
type completeResult int

// The outcomes of store.complete.
const (
	completed   completeResult = iota // the todo is (now) done
	noSuchTodo                        // no todo has that id
	notTheOwner                       // the todo belongs to someone else
)

// store is the in-memory todo list: every user's todos, in creation order,
// with ids "1", "2", ... It is safe for concurrent use; handlers of different
// connections run at the same time.
type store struct {
	mu     sync.Mutex
	todos  []todo         // in creation order
	byID   map[string]int // id → index in todos
	lastID int
}

// newStore returns an empty store.
func newStore() *store {
	return &store{byID: make(map[string]int)}
}

// list returns a copy of every todo in creation order; never nil, so that it
// encodes as [] rather than null.
func (s *store) list() []todo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]todo, len(s.todos))
	copy(out, s.todos)
	return out
}

// create adds a todo owned by owner and returns it.
func (s *store) create(title, owner string) todo {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastID++
	t := todo{ID: strconv.Itoa(s.lastID), Title: title, Owner: owner}
	s.byID[t.ID] = len(s.todos)
	s.todos = append(s.todos, t)
	return t
}

// complete marks the todo id done if it belongs to owner. Completing a todo
// that is already done succeeds again (it is idempotent).
func (s *store) complete(id, owner string) (todo, completeResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.byID[id]
	if !ok {
		return todo{}, noSuchTodo
	}
	if s.todos[i].Owner != owner {
		return todo{}, notTheOwner
	}
	s.todos[i].Done = true
	return s.todos[i], completed
}
