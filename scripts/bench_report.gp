# bench_report.gp - the plots of `refhost bench --report DIR` (gnuplot, png terminal of gnuplot-nox).
# refhost writes the data files into DIR and runs:
#   gnuplot -e "dir='DIR'; plot_kind='speedup'; t=I; ncol=N; temp='T'" bench_report.gp
#       speedup_tI.dat: a header row, then per prompt set (and 'all'): name, then mean lo hi per config
#   gnuplot -e "dir='DIR'; plot_kind='cycles'; nrow=N" bench_report.gp
#       cycles.dat: config draft_calls_per_cycle tau draft_ms verify_ms strategy_ms other_ms (per token)
set terminal png size 1000,600 font ',10' noenhanced
set grid ytics
set key outside right top

if (plot_kind eq 'speedup') {
    set output sprintf('%s/speedup_t%d.png', dir, t)
    set title sprintf('Speedup over AR per prompt set, temperature %s (geometric mean, 95%% CI)', temp)
    set ylabel 'speedup vs AR (x)'
    set style data histogram
    set style histogram errorbars gap 2 lw 1
    set style fill solid 0.6 border -1
    set yrange [0:*]
    set xtics rotate by -20
    f = sprintf('%s/speedup_t%d.dat', dir, t)
    plot for [c=0:ncol-1] f using (column(2+3*c)):(column(3+3*c)):(column(4+3*c)):xtic(1) \
         title columnheader(2+3*c), 1 with lines lc rgb 'black' dt 2 notitle
}

if (plot_kind eq 'cycles') {
    f = sprintf('%s/cycles.dat', dir)
    set output sprintf('%s/tau_vs_draft_calls.png', dir)
    set title 'Accepted tokens per cycle (tau) vs draft calls per cycle, all prompt sets'
    set xlabel 'draft calls per cycle'
    set ylabel 'tau (tokens per cycle)'
    set offsets 0.5, 0.5, 0.3, 0.3
    plot f using 2:3 with points pt 7 ps 1.5 notitle, \
         f using 2:3:1 with labels offset char 1,1 left font ',9' notitle

    set output sprintf('%s/time_split.png', dir)
    set title 'Time per generated token, all prompt sets'
    set xlabel ''
    set ylabel 'ms per generated token'
    set offsets 0, 0, 0, 0
    set style data histogram
    set style histogram rowstacked
    set style fill solid 0.7 border -1
    set boxwidth 0.6
    set xtics rotate by -20
    set yrange [0:*]
    plot f using 4:xtic(1) title 'draft', '' using 5 title 'verify', '' using 6 title 'strategy', \
         '' using 7 title 'other'
}
