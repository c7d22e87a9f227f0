package funcs

import (
	"math"

	"github.com/minicloud/minicloud/internal/rules/value"
)

func init() {
	for name, f := range map[string]func(float64) float64{
		"acos": math.Acos, "asin": math.Asin, "atan": math.Atan, "cos": math.Cos, "cosh": math.Cosh,
		"exp": math.Exp, "ln": math.Log, "sin": math.Sin, "sinh": math.Sinh, "sqrt": math.Sqrt,
		"tan": math.Tan, "tanh": math.Tanh, "degrees": func(x float64) float64 { return x * 180 / math.Pi },
		"radians": func(x float64) float64 { return x * math.Pi / 180 },
	} {
		pure(name, 1, 1, nullable(float1(name, f)))
	}
	pure("abs", 1, 1, nullable(absFn))
	pure("ceil", 1, 1, nullable(intResult("ceil", math.Ceil)))
	pure("ceiling", 1, 1, nullable(intResult("ceiling", math.Ceil)))
	pure("floor", 1, 1, nullable(intResult("floor", math.Floor)))
	pure("sign", 1, 1, nullable(signFn))
	pure("round", 1, 2, nullable(roundFn))
	pure("trunc", 2, 2, nullable(truncFn))
	pure("log", 1, 2, nullable(logFn))
	pure("power", 2, 2, nullable(float2("power", math.Pow)))
	pure("pow", 2, 2, nullable(float2("pow", math.Pow)))
	pure("atan2", 2, 2, nullable(float2("atan2", math.Atan2)))
	pure("mod", 2, 2, nullable(func(a []any) (any, error) { return value.Arith("%", a[0], a[1]) }))
	pure("pi", 0, 0, func([]any) (any, error) { return math.Pi, nil })
	for name, op := range map[string]string{"bitand": "&", "bitor": "|", "bitxor": "^"} {
		pure(name, 2, 2, nullable(bitFn(name, op)))
	}
	pure("bitnot", 1, 1, nullable(func(a []any) (any, error) {
		n, err := integer("bitnot", a, 0)
		return ^n, err
	}))
}

func float1(name string, f func(float64) float64) func([]any) (any, error) {
	return func(a []any) (any, error) {
		x, err := num(name, a, 0)
		if err != nil {
			return nil, err
		}
		return f(x), nil
	}
}

func float2(name string, f func(float64, float64) float64) func([]any) (any, error) {
	return func(a []any) (any, error) {
		x, err := num(name, a, 0)
		if err != nil {
			return nil, err
		}
		y, err := num(name, a, 1)
		if err != nil {
			return nil, err
		}
		return f(x, y), nil
	}
}

// intResult keeps integers as integers and rounds floats to an integral float64 (as eKuiper).
func intResult(name string, f func(float64) float64) func([]any) (any, error) {
	return func(a []any) (any, error) {
		if value.IsInt(a[0]) {
			n, _ := value.Int(a[0])
			return n, nil
		}
		x, err := num(name, a, 0)
		if err != nil {
			return nil, err
		}
		return f(x), nil
	}
}

func absFn(a []any) (any, error) {
	if value.IsInt(a[0]) {
		n, _ := value.Int(a[0])
		if n < 0 {
			n = -n
		}
		return n, nil
	}
	x, err := num("abs", a, 0)
	return math.Abs(x), err
}

func signFn(a []any) (any, error) {
	x, err := num("sign", a, 0)
	if err != nil {
		return nil, err
	}
	switch {
	case x > 0:
		return int64(1), nil
	case x < 0:
		return int64(-1), nil
	}
	return int64(0), nil
}

// roundFn rounds half away from zero, to d decimals when given.
func roundFn(a []any) (any, error) {
	if len(a) == 1 {
		return intResult("round", math.Round)(a)
	}
	x, err := num("round", a, 0)
	if err != nil {
		return nil, err
	}
	d, err := integer("round", a, 1)
	if err != nil {
		return nil, err
	}
	p := math.Pow(10, float64(d))
	return math.Round(x*p) / p, nil
}

func truncFn(a []any) (any, error) {
	x, err := num("trunc", a, 0)
	if err != nil {
		return nil, err
	}
	d, err := integer("trunc", a, 1)
	if err != nil {
		return nil, err
	}
	p := math.Pow(10, float64(d))
	return math.Trunc(x*p) / p, nil
}

// logFn is log10(x) with one argument and log_b(x) with two, as eKuiper's log.
func logFn(a []any) (any, error) {
	x, err := num("log", a, len(a)-1)
	if err != nil {
		return nil, err
	}
	if len(a) == 1 {
		return math.Log10(x), nil
	}
	b, err := num("log", a, 0)
	if err != nil {
		return nil, err
	}
	return math.Log(x) / math.Log(b), nil
}

func bitFn(name, op string) func([]any) (any, error) {
	return func(a []any) (any, error) {
		if _, err := integer(name, a, 0); err != nil {
			return nil, err
		}
		if _, err := integer(name, a, 1); err != nil {
			return nil, err
		}
		x, _ := value.Int(a[0])
		y, _ := value.Int(a[1])
		return value.Arith(op, x, y)
	}
}
