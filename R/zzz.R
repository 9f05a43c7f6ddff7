# Load-time registration of methods on generics of Suggested packages.

.onLoad <- function(libname, pkgname) {
  register_inference_methods(pkgname)
  register_foreign_methods(pkgname)
}

.onAttach <- function(libname, pkgname) hold_lme4_remlcrit()

.onDetach <- function(libpath) release_lme4_remlcrit()

# The S3 generics of lme4 and lmerTest that lemma has `<generic>.lemma_fit` methods
# for, or will have (a name without a method is skipped). When lme4 or lmerTest is
# attached after lemma, its generics mask lemma's; registering lemma's methods on
# them keeps lemma fits working. lme4's isSingular() and REMLcrit() are plain
# functions, not generics: isSingular() works through getME(); see
# hold_lme4_remlcrit() for REMLcrit().
foreign_generics <- list(
  lme4 = c("isREML", "ngrps", "getME", "isLMM", "isGLMM", "isNLMM", "refit", "refitML"),
  lmerTest = c("contest", "contest1D", "contestMD")
)

register_foreign_methods <- function(pkgname = "lemma") {
  for (pkg in names(foreign_generics)) {
    reg <- local({
      p <- pkg
      function(...) register_methods_on(p, foreign_generics[[p]], pkgname)
    })
    if (isNamespaceLoaded(pkg)) reg()
    setHook(packageEvent(pkg, "onLoad"), reg)
    register_forwarders(pkg, foreign_generics[[pkg]], pkgname)
  }
  setHook(packageEvent("lme4", "attach"), function(...) note_lme4_masks(pkgname))
  invisible(TRUE)
}

# Register lemma's `g.lemma_fit` on `pkg`'s generic `g`, for each g that is an S3
# generic there and has a method in lemma.
register_methods_on <- function(pkg, generics, pkgname = "lemma") {
  ns <- asNamespace(pkgname)
  target <- asNamespace(pkg)
  for (g in generics) {
    method <- paste0(g, ".lemma_fit")
    if (!exists(method, envir = ns, inherits = FALSE) || !exists(g, envir = target, inherits = FALSE))
      next
    if (utils::isS3stdGeneric(get(g, envir = target, inherits = FALSE)))
      registerS3method(g, "lemma_fit", get(method, envir = ns, inherits = FALSE), envir = target)
  }
  invisible(TRUE)
}

# lemma's own generics of these names (refit, refitML, ...) that have no default
# method get one that hands other objects (lme4 fits) to `pkg`'s function, so they
# work when lemma is attached above lme4. isSingular, REMLcrit, ngrps, isREML,
# getME and contest have explicit defaults in R/lme4-generics.R.
register_forwarders <- function(pkg, generics, pkgname = "lemma") {
  ns <- asNamespace(pkgname)
  for (g in generics) {
    fun <- get0(g, envir = ns, inherits = FALSE)
    if (is.function(fun) && utils::isS3stdGeneric(fun) &&
        is.null(utils::getS3method(g, "default", optional = TRUE, envir = ns)))
      registerS3method(g, "default", make_forwarder(g, fun, pkg), envir = ns)
  }
  invisible(TRUE)
}

# lme4 1.1-31's REMLcrit() is a plain function that reads the S4 slot
# `object@devcomp`, which no S3 method can supply: attached above lemma it would
# fail on lemma fits. So while lemma is attached, library(lme4) leaves lme4's
# REMLcrit() unattached (R's conflictRules(), added to any rule the user has);
# REMLcrit() stays lemma's, which hands lme4 fits to lme4's. Detaching lemma
# restores the user's rule.
remlcrit_rule <- new.env(parent = emptyenv())

hold_lme4_remlcrit <- function() {
  old <- conflictRules("lme4")
  remlcrit_rule$old <- old
  remlcrit_rule$held <- TRUE
  conflictRules("lme4", mask.ok = old$mask.ok, exclude = union(old$exclude, "REMLcrit"))
  invisible(TRUE)
}

release_lme4_remlcrit <- function() {
  if (!isTRUE(remlcrit_rule$held)) return(invisible(FALSE))
  old <- remlcrit_rule$old
  conflictRules("lme4", mask.ok = old$mask.ok, exclude = old$exclude)
  remlcrit_rule$held <- FALSE
  invisible(TRUE)
}

# If lme4's REMLcrit() is attached above lemma all the same (library(lme4,
# exclude = ...) overrides the rule), say so instead of leaving users to a slot error.
note_lme4_masks <- function(pkgname = "lemma") {
  s <- search()
  mine <- match(paste0("package:", pkgname), s)
  if (is.na(mine) || match("package:lme4", s) > mine ||
      !exists("REMLcrit", envir = as.environment("package:lme4"), inherits = FALSE))
    return(invisible(FALSE))
  packageStartupMessage(sprintf(
    "lme4's REMLcrit() masks %s's and cannot read %s fits: use %s::REMLcrit(fit) for them",
    pkgname, pkgname, pkgname))
  invisible(TRUE)
}
