// Package schemac compiles JSON Schema (draft 2020-12, formats asserted) into validators that check JSON text
// straight from its bytes, with the semantics of github.com/santhosh-tekuri/jsonschema/v6 configured as the
// event registry configures it (draft 2020-12 by default, format assertions on, content keywords ignored).
//
// Compilation reuses the reference compiler for everything that is not validation: resource registration,
// $id and anchor resolution, metaschema checks and regular expression syntax. The compiled graph is then
// translated into nodes, and the nodes that apply to one value unconditionally (a schema, its $ref, its allOf
// members) are merged into a conjunction, so that one pass over the bytes checks every member of an object
// against every subschema that applies to it. Names of object members are looked up in tables built at
// compile time, and what depends only on a name (propertyNames, patternProperties, additionalProperties:
// false) is decided then too.
//
// Validation has two passes. The fast pass scans the bytes once, with no allocation for a valid document, and
// answers valid, invalid or unsure; re-scanning a value happens only for applicators that need it (anyOf,
// oneOf, not, if, dependentSchemas, contains, uniqueItems). Anything but valid falls to the second pass,
// which decodes the document as the reference does and walks the schema in the reference's order to collect
// its leaf errors, from which one is selected (see ValidationError).
//
// Keywords whose semantics the compiler does not reproduce make Compile return an error wrapping an
// *UnsupportedError; callers then validate with the reference instead.
package schemac
