package value

// Like reports whether s matches the SQL pattern: '%' is any run of characters, '_' exactly one,
// and '\' makes the next character literal. It works on runes and runs in O(len(s)·len(pattern))
// at worst, without building a regular expression.
func Like(s, pattern string) bool {
	str := []rune(s)
	pat := []rune(pattern)
	si, pi := 0, 0
	starPi, starSi := -1, 0
	for si < len(str) {
		if pi < len(pat) {
			switch {
			case pat[pi] == '%':
				starPi, starSi = pi, si
				pi++
				continue
			case pat[pi] == '_':
				si++
				pi++
				continue
			case pat[pi] == '\\' && pi+1 < len(pat):
				if pat[pi+1] == str[si] {
					si++
					pi += 2
					continue
				}
			case pat[pi] == str[si]:
				si++
				pi++
				continue
			}
		}
		if starPi < 0 {
			return false
		}
		starSi++
		si = starSi
		pi = starPi + 1
	}
	for pi < len(pat) && pat[pi] == '%' {
		pi++
	}
	return pi == len(pat)
}
