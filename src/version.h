#ifndef FLEXIROAM_VERSION_H
#define FLEXIROAM_VERSION_H
/* The one place the version is written: flexiroam.VERSION reads it. */
#define FX_VERSION "0.2.0"
#endif
