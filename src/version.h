#ifndef FLEXIROAM_VERSION_H
#define FLEXIROAM_VERSION_H
/* Kept equal to VERSION in lua/flexiroam/init.lua (a spec checks it). */
#define FX_VERSION "0.1.0"
#endif
