package message

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
	validator "github.com/mattermost/xml-roundtrip-validator"
)

// maxDepth bounds the nesting of inbound XML. A LogoutRequest in a SOAP
// envelope with its signature is 9 levels deep; metadata about 10.
const maxDepth = 64

// parseXML checks untrusted XML and parses it into an etree element. It
// refuses, wrapped in ErrTooLarge or ErrMalformed: more than maxBytes, XML
// that does not survive a round trip through encoding/xml (the parser
// differentials behind CVE-2020-29509 and friends), and everything scanXML
// refuses.
func parseXML(data []byte, maxBytes int) (*etree.Element, error) {
	if len(data) > maxBytes {
		return nil, &xmlError{ErrTooLarge, fmt.Sprintf("%d bytes of XML, the limit is %d", len(data), maxBytes)}
	}
	if err := validator.Validate(bytes.NewReader(data)); err != nil {
		return nil, &xmlError{ErrMalformed, "XML does not round-trip through encoding/xml: " + err.Error()}
	}
	if err := scanXML(data); err != nil {
		return nil, &xmlError{ErrMalformed, err.Error()}
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{MaxDepth: maxDepth}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, &xmlError{ErrMalformed, "XML: " + err.Error()}
	}
	root := doc.Root()
	if root == nil {
		return nil, &xmlError{ErrMalformed, "no XML root element"}
	}
	return root, nil
}

// xmlError is a refusal of parseXML: kind is ErrTooLarge or ErrMalformed.
type xmlError struct {
	kind   error
	detail string
}

func (e *xmlError) Error() string { return e.kind.Error() + ": " + e.detail }
func (e *xmlError) Unwrap() error { return e.kind }

// Namespaces XML reserves (Namespaces in XML 1.0, section 3).
const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

// scanXML checks the tokens of untrusted XML: well-formed and
// namespace-well-formed (every prefix declared, no empty prefix or local
// name, no reserved prefix misused, end tags matching), UTF-8 only, exactly
// one root element, no DTD (so no entity declarations or external
// entities), no processing instruction other than the XML declaration, no
// duplicate attributes (by namespace and local name), at most maxDepth
// levels of nesting.
func scanXML(data []byte) error {
	type frame struct {
		name  xml.Name
		decls map[string]string
	}
	var stack []frame
	lookup := func(prefix string) (string, bool) {
		if prefix == "xml" {
			return nsXML, true
		}
		for i := len(stack) - 1; i >= 0; i-- {
			if ns, ok := stack[i].decls[prefix]; ok {
				return ns, true
			}
		}
		return "", prefix == ""
	}
	badName := func(n xml.Name) bool {
		return n.Local == "" || strings.Contains(n.Local, ":")
	}
	rawName := func(n xml.Name) string {
		if n.Space == "" {
			return n.Local
		}
		return n.Space + ":" + n.Local
	}

	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	// CharsetReader stays nil: encoding/xml then accepts only UTF-8
	// (and US-ASCII) declarations.
	roots, first := 0, true
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				roots++
				if roots > 1 {
					return errors.New("XML has more than one root element")
				}
			}
			if len(stack) >= maxDepth {
				return fmt.Errorf("XML is nested deeper than %d elements", maxDepth)
			}
			if badName(t.Name) {
				return fmt.Errorf("element name %q is not namespace-well-formed", rawName(t.Name))
			}
			f := frame{name: t.Name, decls: map[string]string{}}
			for _, a := range t.Attr {
				if badName(a.Name) {
					return fmt.Errorf("attribute name %q in <%s> is not namespace-well-formed", rawName(a.Name), rawName(t.Name))
				}
				switch {
				case a.Name.Space == "xmlns":
					p := a.Name.Local
					switch {
					case p == "xmlns" || a.Value == nsXMLNS:
						return errors.New("the xmlns prefix and namespace are reserved")
					case (p == "xml") != (a.Value == nsXML):
						return errors.New("the xml prefix and namespace are reserved")
					case a.Value == "":
						return fmt.Errorf("prefix %q is declared with an empty namespace", p)
					}
					f.decls[p] = a.Value
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					if a.Value == nsXML || a.Value == nsXMLNS {
						return errors.New("a reserved namespace cannot be the default namespace")
					}
					f.decls[""] = a.Value
				}
			}
			stack = append(stack, f)
			if _, ok := lookup(t.Name.Space); !ok {
				return fmt.Errorf("element <%s> uses an undeclared namespace prefix", rawName(t.Name))
			}
			seen := make(map[xml.Name]bool, len(t.Attr))
			for _, a := range t.Attr {
				name := a.Name
				if name.Space != "" && name.Space != "xmlns" {
					ns, ok := lookup(name.Space)
					if !ok {
						return fmt.Errorf("attribute %s uses an undeclared namespace prefix", rawName(a.Name))
					}
					name.Space = ns
				}
				if seen[name] {
					return fmt.Errorf("element <%s> repeats the attribute %q", rawName(t.Name), rawName(a.Name))
				}
				seen[name] = true
			}
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1].name != t.Name {
				return fmt.Errorf("unexpected end tag </%s>", rawName(t.Name))
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text outside the root element")
			}
		case xml.Directive:
			return errors.New("DTDs and entity declarations (<!DOCTYPE …>, <!ENTITY …>) are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" || !first {
				return fmt.Errorf("processing instruction <?%s …?> is not allowed", t.Target)
			}
		}
		first = false
	}
	if len(stack) > 0 {
		return errors.New("XML ends inside an element")
	}
	if roots == 0 {
		return errors.New("no XML root element")
	}
	return nil
}

// isElem reports whether el is the element {ns}local.
func isElem(el *etree.Element, ns, local string) bool {
	return el.Tag == local && el.NamespaceURI() == ns
}

// elemName is the {namespace}local name of el, for messages.
func elemName(el *etree.Element) string {
	if ns := el.NamespaceURI(); ns != "" {
		return "{" + ns + "}" + el.Tag
	}
	return el.Tag
}

// attr returns the value of the unqualified attribute name of el. Unlike
// etree's SelectAttr, it never matches a prefixed attribute (foo:ID).
func attr(el *etree.Element, name string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value, true
		}
	}
	return "", false
}

// attrValue is attr without the presence flag.
func attrValue(el *etree.Element, name string) string {
	v, _ := attr(el, name)
	return v
}

// textOf returns the character data of el, concatenated across comments
// (etree's Text stops at the first comment, the bug class of
// CVE-2017-11427). Child elements are an error.
func textOf(el *etree.Element) (string, error) {
	var b strings.Builder
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			b.WriteString(t.Data)
		case *etree.Element:
			return "", fmt.Errorf("<%s> must hold only text, it contains <%s>", el.Tag, t.Tag)
		}
	}
	return b.String(), nil
}

// findAll returns every descendant of el (el included) named {ns}local, in
// document order.
func findAll(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		if isElem(e, ns, local) {
			out = append(out, e)
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(el)
	return out
}
