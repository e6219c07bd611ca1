"""The Compress page's panels: source (which CNN), methods (what to try, with what knobs),
results (the side-by-side table, the chart, the files, Use in Business case)."""
