// The Go lower-casing oracle for the normalization tests: no dependencies beyond the standard library.
module impersonation-operator.dev/go-lower

go 1.26.0
