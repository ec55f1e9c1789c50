# Shared by the brms benchmark scripts: HierarchicalHTE's default priors, and a fit
# timed in two parts (C++ compilation, then 4 chains on 2 cores at adapt_delta 0.95).
suppressMessages(library(brms))

default_priors <- c(
  prior(normal(0, 1), class = Intercept),
  prior(normal(0, 0.5), class = b),
  prior(normal(0, 1), class = sd),
  prior(normal(0, 1), class = sigma),
  prior(lkj(1), class = cor)
)

timed_fit <- function(formula, data, draws, seed = 1) {
  started <- Sys.time()
  compiled <- brm(formula, data = data, prior = default_priors, chains = 0, silent = 2,
                  refresh = 0)
  compile_s <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  started <- Sys.time()
  fit <- update(compiled, recompile = FALSE, chains = 4, cores = 2, iter = 2 * draws,
                warmup = draws, control = list(adapt_delta = 0.95), seed = seed,
                refresh = 0, silent = 2)
  sampling_s <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  list(fit = fit, compile_s = compile_s, sampling_s = sampling_s)
}


# the scripts' arguments: data.csv out_prefix draws [seed]
benchmark_arguments <- function() {
  args <- commandArgs(trailingOnly = TRUE)
  seed <- if (length(args) >= 4) as.integer(args[4]) else 1L
  list(data = read.csv(args[1]), out = args[2], draws = as.integer(args[3]), seed = seed)
}
