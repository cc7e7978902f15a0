# The plot of bench/soak.sh: the service's RSS, open files and queue over the
# soak, with the kills (red), the FHIR outage (grey band) and the second Kafka
# consumer's join/leave (blue) marked.
#   gnuplot -e "samples='S.csv'; events='E.csv'; output='O.png'; outage_from=A; outage_to=B; has_outage=1" bench/soak_plot.gp
# samples.csv: t,pid,rss_kb,fds,queue,ready,fhir_rss_kb,fhir_fds; events.csv: t,event,detail.
set terminal pngcairo size 1000,760 font ",9"
set output output
set datafile separator ","
set datafile missing ""
set key top left horizontal
set grid ytics lc rgb "#dddddd"
set xrange [0:*]
if (has_outage) set object 1 rect from outage_from, graph 0 to outage_to, graph 1 fc rgb "#e8e8e8" fs solid noborder behind
set multiplot layout 3,1 title "iomt serve soak: the service under test (kills red, FHIR outage grey, Kafka consumer join/leave blue)"
set lmargin 10
kill(c) = strcol(2) eq "kill" ? 1 : NaN
member(c) = (strcol(2) eq "kafka-join" || strcol(2) eq "kafka-leave") ? 1 : NaN

set ylabel "RSS (MB)"
set yrange [0:*]
stats samples every ::1 using ($3/1024) nooutput
top = STATS_max * 1.15
set yrange [0:top]
plot samples every ::1 using 1:($3/1024) with lines lw 1.5 lc rgb "#1f4e9a" title "service RSS", \
     samples every ::1 using 1:($7/1024) with lines lw 1 lc rgb "#999999" title "FHIR service RSS", \
     events every ::1 using 1:(kill(0)*top) with impulses lw 1.5 lc rgb "#d62728" title "SIGKILL", \
     events every ::1 using 1:(member(0)*top) with impulses lw 1 dt 2 lc rgb "#1f77b4" title "Kafka join/leave"

set ylabel "open files"
stats samples every ::1 using 4 nooutput
top = STATS_max * 1.25
set yrange [0:top]
plot samples every ::1 using 1:4 with lines lw 1.5 lc rgb "#2ca02c" title "service fds", \
     events every ::1 using 1:(kill(0)*top) with impulses lw 1.5 lc rgb "#d62728" notitle, \
     events every ::1 using 1:(member(0)*top) with impulses lw 1 dt 2 lc rgb "#1f77b4" notitle

set ylabel "queued events"
set xlabel "seconds since the load started"
stats samples every ::1 using 5 nooutput
top = STATS_max > 0 ? STATS_max * 1.15 : 1
set yrange [0:top]
plot samples every ::1 using 1:5 with lines lw 1.5 lc rgb "#ff7f0e" title "service queue (event log)", \
     events every ::1 using 1:(kill(0)*top) with impulses lw 1.5 lc rgb "#d62728" notitle, \
     events every ::1 using 1:(member(0)*top) with impulses lw 1 dt 2 lc rgb "#1f77b4" notitle
unset multiplot
