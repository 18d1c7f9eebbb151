/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Two processes bouncing a byte through pipes: N round trips, 4N context switches. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <time.h>
int main(int argc,char**argv){int n=atoi(argv[1]);int a[2],b[2];char c=0;pipe(a);pipe(b);
if(fork()==0){for(int i=0;i<n;i++){read(a[0],&c,1);write(b[1],&c,1);}_exit(0);}
struct timespec t0,t1;clock_gettime(CLOCK_MONOTONIC,&t0);
for(int i=0;i<n;i++){write(a[1],&c,1);read(b[0],&c,1);}
clock_gettime(CLOCK_MONOTONIC,&t1);printf("%.0f round trips/s\n",n/((t1.tv_sec-t0.tv_sec)+(t1.tv_nsec-t0.tv_nsec)/1e9));return 0;}
