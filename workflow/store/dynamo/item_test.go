package dynamo

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestNumberFits checks DynamoDB's number limits: 38 significant digits, magnitudes from 1e-130 to below 1e126.
func TestNumberFits(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0", true},
		{"-0.000", true},
		{"42", true},
		{"-189.90", true},
		{"12345678901234567890123456789012345678", true},
		{"123456789012345678901234567890123456789", false},
		{"1000000000000000000000000000000000000000000", true},
		{"1e125", true},
		{"9.99e125", true},
		{"1e126", false},
		{"1E-130", true},
		{"0.0001e-127", false},
		{"1e-131", false},
		{"0.000123", true},
		{"1e+5", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := numberFits(tc.in); got != tc.want {
				t.Errorf("numberFits(%s) = %v; want %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestItemSize checks the item size rules on small items.
func TestItemSize(t *testing.T) {
	tests := []struct {
		name string
		av   map[string]types.AttributeValue
		want int
	}{
		{"string", map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "abc"}}, 5},
		{"utf-8 string", map[string]types.AttributeValue{"s": &types.AttributeValueMemberS{Value: "ü"}}, 3},
		{"number", map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: "-123.450"}}, 1 + 3 + 1},
		{"bool and null", map[string]types.AttributeValue{"b": &types.AttributeValueMemberBOOL{Value: true},
			"z": &types.AttributeValueMemberNULL{Value: true}}, 4},
		{"map", map[string]types.AttributeValue{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"k": &types.AttributeValueMemberS{Value: "vv"}}}}, 1 + 3 + 1 + 2 + 1},
		{"empty list", map[string]types.AttributeValue{"l": &types.AttributeValueMemberL{}}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := itemSize(tc.av); got != tc.want {
				t.Errorf("itemSize = %d; want %d", got, tc.want)
			}
		})
	}
}
