from optbench.report.cli import main

main()
