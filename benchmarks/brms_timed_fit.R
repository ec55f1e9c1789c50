# Shared by the brms benchmark scripts: HierarchicalHTE's default priors, and a fit
# timed in two parts (C++ compilation, then 4 chains on 2 cores at adapt_delta 0.95),
# of any brms family (Gaussian by default).
suppressMessages(library(brms))

default_priors <- c(
  prior(normal(0, 1), class = Intercept),
  prior(normal(0, 0.5), class = b),
  prior(normal(0, 1), class = sd),
  prior(normal(0, 1), class = sigma),
  prior(lkj(1), class = cor)
)

# the default priors of the parameters that the model has: brms refuses a prior on a
# parameter it lacks (the negative binomial, for one, has no sigma)
model_priors <- function(formula, data, family = gaussian()) {
  classes <- unique(get_prior(formula, data = data, family = family)$class)
  default_priors[default_priors$class %in% classes, ]
}

timed_fit <- function(formula, data, draws, seed = 1, family = gaussian()) {
  started <- Sys.time()
  compiled <- brm(formula, data = data, family = family,
                  prior = model_priors(formula, data, family), chains = 0, silent = 2,
                  refresh = 0)
  compile_s <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  started <- Sys.time()
  fit <- update(compiled, recompile = FALSE, chains = 4, cores = 2, iter = 2 * draws,
                warmup = draws, control = list(adapt_delta = 0.95), seed = seed,
                refresh = 0, silent = 2)
  sampling_s <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  list(fit = fit, compile_s = compile_s, sampling_s = sampling_s)
}


# the scripts' arguments: data.csv out_prefix draws [seed] [family], the family by its
# brms name ("gaussian", "student", "negbinomial", ...)
benchmark_arguments <- function() {
  args <- commandArgs(trailingOnly = TRUE)
  seed <- if (length(args) >= 4) as.integer(args[4]) else 1L
  family <- if (length(args) >= 5) args[5] else "gaussian"
  list(data = read.csv(args[1]), out = args[2], draws = as.integer(args[3]), seed = seed,
       family = get(family, mode = "function")())
}
