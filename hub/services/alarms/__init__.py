"""ISA-18.2 alarms: rules, the evaluator, operator actions, views."""
