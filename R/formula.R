# Parsing lme4's formula syntax: random-effect terms `(lhs | group)`, uncorrelated
# terms `(lhs || group)`, nesting `a/b` and interactions `a:b` as grouping factors.

#' Random-effect terms of a mixed-model formula
#'
#' Finds the `(lhs | group)` and `(lhs || group)` terms of a formula and expands
#' them as lme4 does: `(x || g)` becomes `(1 | g) + (0 + x | g)` and `(1 | a/b)`
#' becomes `(1 | b:a) + (1 | a)`.
#'
#' @param formula a two-sided formula in lme4's syntax.
#' @return A list with one element per random-effect term, each a list with `lhs`
#'   (a one-sided formula for the term's model matrix) and `group` (the grouping
#'   expression as a string, e.g. `"Subject"` or `"cask:batch"`).
#' @examples
#' random_terms(y ~ x + (x || g) + (1 | a/b))
#' @export
random_terms <- function(formula) {
  bars <- list()
  walk <- function(e) {
    if (!is.call(e)) return(invisible())
    op <- as.character(e[[1]])
    if (op %in% c("|", "||")) {
      bars[[length(bars) + 1L]] <<- e
    } else if (op == "(") {
      walk(e[[2]])
    } else if (op == "+" ) {
      for (i in seq_along(e)[-1]) walk(e[[i]])
    }
    invisible()
  }
  walk(formula[[length(formula)]])
  out <- list()
  for (bar in bars) {
    groups <- expand_nesting(bar[[3]])
    lhs_terms <- if (identical(as.character(bar[[1]]), "||")) split_uncorrelated(bar[[2]]) else list(bar[[2]])
    for (g in groups) for (lhs in lhs_terms) {
      out[[length(out) + 1L]] <- list(lhs = stats::as.formula(call("~", lhs), env = environment(formula)),
                                      group = g)
    }
  }
  out
}

# `a/b/c` -> c("a", "b:a", "c:b:a"); interactions stay as written.
expand_nesting <- function(e) {
  if (is.call(e) && identical(e[[1]], as.name("/"))) {
    outer <- expand_nesting(e[[2]])
    inner <- expand_nesting(e[[3]])
    innermost <- outer[length(outer)]
    return(c(outer, paste(inner, innermost, sep = ":")))
  }
  if (is.call(e) && identical(e[[1]], as.name("("))) return(expand_nesting(e[[2]]))
  paste(deparse(e, width.cutoff = 500L), collapse = "")
}

# `(1 + x + z || g)` -> list(1, 0 + x, 0 + z): one uncorrelated term per formula term.
split_uncorrelated <- function(lhs) {
  tt <- stats::terms(stats::as.formula(call("~", lhs)))
  labels <- attr(tt, "term.labels")
  out <- if (attr(tt, "intercept") == 1L) list(1) else list()
  for (lab in labels) out[[length(out) + 1L]] <- str2lang(paste("0 +", lab))
  out
}

#' The fixed-effects part of a mixed-model formula
#'
#' Drops the random-effect terms `( | )` from a formula.
#'
#' @param formula a formula in lme4's syntax.
#' @return The formula without its random-effect terms (`~ 1` on the right if nothing
#'   is left).
#' @examples
#' fixed_formula(Reaction ~ Days + (Days | Subject))
#' @export
fixed_formula <- function(formula) {
  drop_bars <- function(e) {
    if (!is.call(e)) return(e)
    op <- as.character(e[[1]])
    if (op %in% c("|", "||")) return(NULL)
    if (op == "(" && is.call(e[[2]]) && as.character(e[[2]][[1]]) %in% c("|", "||")) return(NULL)
    if (op == "+") {
      parts <- lapply(as.list(e)[-1], drop_bars)
      parts <- parts[!vapply(parts, is.null, logical(1))]
      if (length(parts) == 0L) return(NULL)
      if (length(parts) == 1L) return(if (length(e) == 2L) call("+", parts[[1]]) else parts[[1]])
      return(call("+", parts[[1]], parts[[2]]))
    }
    e
  }
  rhs <- drop_bars(formula[[length(formula)]])
  if (is.null(rhs)) rhs <- 1
  out <- if (length(formula) == 3L) call("~", formula[[2]], rhs) else call("~", rhs)
  stats::as.formula(out, env = environment(formula))
}
