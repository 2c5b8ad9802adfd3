#!/bin/sh
# summarize a build dir: rounds, stages, errors, PHV
o=$1
cat $o.rc 2>/dev/null
grep -h 'state =\|Number of stages for\|Critical' $o/pipe/logs/table_summary.log 2>/dev/null
grep -v warning $o.stderr | grep -i -A4 '^error\|: error' | grep -v '^\s*\^' | head -20
for f in $o/pipe/logs/phv_allocation_summary_*.log; do [ -f $f ] && echo $f && grep -A0 'Overall PHV Usage\|Usage for 32b\|allocation was' $f | tail -3; done
