package funcs

import (
	"fmt"

	"github.com/minicloud/minicloud/internal/rules/value"
)

// argError says which argument of which function had the wrong type.
func argError(fn string, i int, want string, got any) error {
	return fmt.Errorf("%s: argument %d must be %s, got %s", fn, i+1, want, value.TypeName(got))
}

func num(fn string, args []any, i int) (float64, error) {
	f, ok := value.Number(args[i])
	if !ok {
		return 0, argError(fn, i, "a number", args[i])
	}
	return f, nil
}

func integer(fn string, args []any, i int) (int64, error) {
	n, ok := value.Int(args[i])
	if !ok {
		return 0, argError(fn, i, "an integer", args[i])
	}
	return n, nil
}

func str(fn string, args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", argError(fn, i, "a string", args[i])
	}
	return s, nil
}

func anyNil(args []any) bool {
	for _, a := range args {
		if a == nil {
			return true
		}
	}
	return false
}

// nullable wraps a function so that any nil argument gives nil, SQL's usual null propagation.
func nullable(call func([]any) (any, error)) func([]any) (any, error) {
	return func(args []any) (any, error) {
		if anyNil(args) {
			return nil, nil
		}
		return call(args)
	}
}
