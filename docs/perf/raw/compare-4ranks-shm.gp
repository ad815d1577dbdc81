if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 1000,400 font ",9" } else { set terminal png size 1000,400 }
set output 'compare-4ranks-shm.png'
set multiplot layout 1,2 title 'allreduce float32, 4 ranks, shm (one host)'
set logscale x 2
set xrange [11.4286:3.7581e+08]
set xtics ("16" 16, "128" 128, "1K" 1024, "8K" 8192, "64K" 65536, "512K" 524288, "4M" 4194304, "32M" 33554432, "256M" 268435456)
set grid
set key below horizontal
set xlabel 'message size (bytes)' offset 0,0.5
set bmargin 5
set logscale y 10
set ylabel 'time per call (µs)'
set title 'latency (lower is better)'
plot 'raw/haloccl-4-shm.dat' using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#b2182b' title 'haloccl', 'raw/mpi-4-shm.dat' using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#2166ac' title 'OpenMPI'
unset logscale y
set yrange [0:*]
set ylabel 'busbw (GB/s)'
set title 'bus bandwidth (higher is better)'
plot 'raw/haloccl-4-shm.dat' using 1:3 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#b2182b' title 'haloccl', 'raw/mpi-4-shm.dat' using 1:3 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#2166ac' title 'OpenMPI'
unset multiplot
