package value

import (
	"errors"
	"fmt"
	"math"
)

// ErrDivideByZero is returned for an integer division or modulo by zero.
var ErrDivideByZero = errors.New("division by zero")

// Arith applies + - * / % & | ^ to a and b. A nil operand gives nil (SQL's null propagation).
// Two integers give an integer (with Go's truncating division, as eKuiper's bigint); otherwise a
// float. Bitwise operators need integers.
func Arith(op string, a, b any) (any, error) {
	if a == nil || b == nil {
		return nil, nil
	}
	if IsInt(a) && IsInt(b) {
		i, _ := Int(a)
		j, _ := Int(b)
		return intArith(op, i, j)
	}
	x, okx := Number(a)
	y, oky := Number(b)
	if !okx || !oky {
		return nil, fmt.Errorf("cannot apply %s to %s and %s", op, TypeName(a), TypeName(b))
	}
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	case "/":
		if y == 0 {
			return nil, ErrDivideByZero
		}
		return x / y, nil
	case "%":
		if y == 0 {
			return nil, ErrDivideByZero
		}
		return math.Mod(x, y), nil
	}
	return nil, fmt.Errorf("operator %s needs integers, got %s and %s", op, TypeName(a), TypeName(b))
}

func intArith(op string, i, j int64) (any, error) {
	switch op {
	case "+":
		return i + j, nil
	case "-":
		return i - j, nil
	case "*":
		return i * j, nil
	case "/", "%":
		if j == 0 {
			return nil, ErrDivideByZero
		}
		if j == -1 { // MinInt64 / -1 overflows: negate instead, which wraps quietly like + and *
			if op == "%" {
				return int64(0), nil
			}
			return -i, nil
		}
		if op == "/" {
			return i / j, nil
		}
		return i % j, nil
	case "&":
		return i & j, nil
	case "|":
		return i | j, nil
	case "^":
		return i ^ j, nil
	}
	return nil, fmt.Errorf("unknown operator %s", op)
}

// Negate is unary minus.
func Negate(a any) (any, error) {
	switch n := a.(type) {
	case nil:
		return nil, nil
	case int64:
		return -n, nil
	}
	if IsInt(a) {
		i, _ := Int(a)
		return -i, nil
	}
	if f, ok := Number(a); ok {
		return -f, nil
	}
	return nil, fmt.Errorf("cannot negate %s", TypeName(a))
}
