package redirect_test

import (
	"fmt"

	"github.com/signoff/signoff/web/redirect"
)

func ExamplePolicy_Validate() {
	p := redirect.Policy{AllowedDomains: []string{"example.com"}, AllowRelative: true}
	for _, rd := range []string{
		"https://wiki.example.com/bye",
		"/bye",
		"https://example.com.evil.com/",
		"//evil.com",
	} {
		target, err := p.Validate(rd)
		fmt.Printf("%q %v\n", target, err)
	}
	// Output:
	// "https://wiki.example.com/bye" <nil>
	// "/bye" <nil>
	// "" redirect refused: host "example.com.evil.com" is not on an allowed domain
	// "" redirect refused: scheme-relative target (starts with //)
}
