# The scaling benchmark's model in brms (called by benchmarks/scaling.py --external):
#   Rscript scaling_brms.R data.csv out_prefix draws
# Same specification and priors as HierarchicalHTE's defaults: varying intercept and
# treatment slope per group (LKJ(1) correlation), the modifiers as group-level
# predictors of both, two controls.
file <- sub("--file=", "", grep("--file=", commandArgs(trailingOnly = FALSE), value = TRUE))
source(file.path(dirname(normalizePath(file)), "brms_timed_fit.R"))
run <- benchmark_arguments()
run$data$group <- with(run$data, interaction(m0, m1, m2, m3, drop = TRUE, sep = "_"))
timed <- timed_fit(y ~ 1 + c0 + c1 + t * (m0 + m1 + m2 + m3) + (1 + t | group), run$data,
                   run$draws)
write.csv(data.frame(compile_s = timed$compile_s, sampling_s = timed$sampling_s),
          paste0(run$out, "_timing.csv"), row.names = FALSE)
