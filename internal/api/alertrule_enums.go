package api

import "slices"

// The accepted values of AlertRule's enumerations, for documentation and
// plan-time checks outside this package.

// AlertRuleKindNames lists the accepted values of AlertRule.Kind.
func AlertRuleKindNames() []string { return slices.Clone(alertRuleKinds) }

// AlertAggregationNames lists the accepted values of AlertRule.Aggregation.
func AlertAggregationNames() []string { return slices.Clone(alertAggregations) }

// AlertOpNames lists the accepted values of AlertRule.Op.
func AlertOpNames() []string { return slices.Clone(alertOps) }

// MatcherOpNames lists the accepted values of LabelMatcher.Op.
func MatcherOpNames() []string { return slices.Clone(matcherOps) }

// NoDataModeNames lists the accepted values of AlertRule.NoData.
func NoDataModeNames() []string { return slices.Clone(noDataModes) }
