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


# Writes out_groups.csv (each group's effect median), out_timing.csv (times, worst R-hat and
# bulk ESS over the key parameters and the group effects) and out_parameters.csv (the
# family's own parameters' medians). theta: draws x groups, chains stacked (4 chains).
write_fit_summary <- function(fit, timed, key, theta, groups, family_parameters, out) {
  d <- posterior::as_draws_df(fit)
  summary_key <- posterior::summarise_draws(
    posterior::subset_draws(posterior::as_draws_array(fit), variable = key), "rhat", "ess_bulk")
  theta_array <- array(theta, dim = c(nrow(theta) / 4, 4, ncol(theta)))
  theta_rhat <- apply(theta_array, 3, posterior::rhat)
  theta_ess <- apply(theta_array, 3, posterior::ess_bulk)
  groups$median <- apply(theta, 2, median)
  write.csv(groups, paste0(out, "_groups.csv"), row.names = FALSE)
  write.csv(data.frame(
    compile_s = timed$compile_s, sampling_s = timed$sampling_s,
    min_ess_bulk = min(c(as.numeric(summary_key$ess_bulk), theta_ess)),
    max_rhat = max(c(as.numeric(summary_key$rhat), theta_rhat))
  ), paste0(out, "_timing.csv"), row.names = FALSE)
  write.csv(data.frame(parameter = family_parameters,
                       median = sapply(family_parameters, function(p) median(d[[p]]))),
            paste0(out, "_parameters.csv"), row.names = FALSE)
}
