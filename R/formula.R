# Parsing lme4's formula syntax: random-effect terms `(lhs | group)`, uncorrelated
# terms `(lhs || group)`, nesting `a/b` and interactions `a:b` as grouping factors.
#
# A random-effect term is read where it is added to the model: at the top of the
# right-hand side, in a sum, inside any number of parentheses, or as the left operand
# of `-` (`(1 | g) - 1`). lme4 also collects a term found under `*`, `:`, `%in%`,
# `/`, `^` or on the right of `-`, and then drops that operator's meaning (`x * (1 | g)`
# is fitted as `x + (1 | g)`, `x - (1 | g)` with the term); lemma refuses these with
# a message naming the term, since what is fitted is not what is written. A `|`
# inside a function call (`I(a | b)`) is R's logical or, part of the fixed effects.

formula_ops <- c("*", ":", "%in%", "/", "^")

is_bar <- function(e) is.call(e) && (identical(e[[1]], as.name("|")) || identical(e[[1]], as.name("||")))

# Does `e` contain a bar in a position where the formula operators reach it?
has_bar <- function(e) {
  if (!is.call(e)) return(FALSE)
  if (is_bar(e)) return(TRUE)
  op <- as.character(e[[1]])[1]
  if (op %in% c("(", "+", "-", formula_ops)) return(any(vapply(as.list(e)[-1], has_bar, logical(1))))
  FALSE
}

first_bar <- function(e) {
  if (is_bar(e)) return(e)
  for (a in as.list(e)[-1]) if (has_bar(a)) return(first_bar(a))
  NULL
}

# The bar calls of a right-hand side, in order; errors for bars the model would not add.
find_bars <- function(e) {
  if (!is.call(e)) return(list())
  if (is_bar(e)) return(list(check_bar_term(e)))
  op <- as.character(e[[1]])[1]
  if (op == "(" || op == "+") return(do.call(c, lapply(as.list(e)[-1], find_bars)))
  if (op == "-") {
    if (length(e) == 3L) {
      if (has_bar(e[[3]])) refuse_bar(e, first_bar(e[[3]]), "subtracted")
      return(find_bars(e[[2]]))
    }
    if (has_bar(e[[2]])) refuse_bar(e, first_bar(e[[2]]), "subtracted")
    return(list())
  }
  if (op %in% formula_ops && has_bar(e)) refuse_bar(e, first_bar(e), op)
  list()
}

# Does the expression call any of `fns` anywhere inside it?
calls_any <- function(e, fns) {
  if (!is.call(e)) return(FALSE)
  if (is.name(e[[1]]) && as.character(e[[1]]) %in% fns) return(TRUE)
  any(vapply(as.list(e), calls_any, logical(1), fns = fns))
}

# A random-effect term whose sides hold another bar (`(x || g | h)` reads as
# `((x || g) | h)`) or an offset (which the term's model matrix would drop
# silently) is refused, naming the term.
check_bar_term <- function(bar) {
  b <- function() deparse1(call("(", bar))  # for the messages only
  if (calls_any(bar[[2]], c("|", "||")) || calls_any(bar[[3]], c("|", "||")))
    stop(sprintf("the random-effect term %s has a bar inside another bar's side: write each term as (lhs | group)", b()),
         call. = FALSE)
  if (calls_any(bar[[2]], "offset") || calls_any(bar[[3]], "offset"))
    stop(sprintf("the random-effect term %s contains offset(): put the offset in the fixed part of the formula", b()),
         call. = FALSE)
  bar
}

refuse_bar <- function(where, bar, op) {
  b <- deparse1(call("(", bar))
  w <- deparse1(where)
  if (op == "subtracted") {
    stop(sprintf(paste0("the random-effect term %s is subtracted in '%s': a random-effect term can only be ",
                        "added (lme4 fits it as if added; write '+ %s' for that, or leave it out)"), b, w, b),
         call. = FALSE)
  }
  stop(sprintf(paste0("the random-effect term %s is an operand of '%s' in '%s': random-effect terms can only be ",
                      "added with '+' (lme4 ignores the '%s' and fits it as added); write it as '+ %s', ",
                      "and random slopes inside the term, e.g. (x | g)"), b, op, w, op, b),
       call. = FALSE)
}

# `(x + z || g)` -> `((1 | g) + (0 + x | g) + (0 + z | g))`, in place, as lme4 stores it.
expand_double_bars <- function(e) {
  if (!is.call(e)) return(e)
  if (identical(e[[1]], as.name("||"))) {
    pieces <- lapply(split_uncorrelated(e[[2]]), function(lhs) call("(", call("|", lhs, e[[3]])))
    if (length(pieces) == 0L)
      stop(sprintf("the term (%s) has no columns", deparse1(e)), call. = FALSE)
    return(Reduce(function(a, b) call("+", a, b), pieces))
  }
  if (identical(e[[1]], as.name("|"))) return(e)
  op <- as.character(e[[1]])[1]
  if (op %in% c("(", "+", "-")) for (i in seq_along(e)[-1]) e[[i]] <- expand_double_bars(e[[i]])
  e
}

#' The formula of a model with its uncorrelated terms expanded
#'
#' Replaces each `(lhs || group)` term by one correlated term per column, as lme4
#' stores the formula of a fit: `(x || g)` becomes `((1 | g) + (0 + x | g))`. A
#' formula given as a string is converted first. This is the formula `formula(fit)`
#' returns, so that `update(fit, . ~ . - (0 + x | g))` removes one of the pieces.
#'
#' @param formula a formula in lme4's syntax, or a string holding one.
#' @param env the environment of a formula made from a string.
#' @return A formula.
#' @examples
#' expand_formula(Reaction ~ Days + (Days || Subject))
#' @export
expand_formula <- function(formula, env = parent.frame()) {
  if (is.character(formula) && length(formula) == 1L) formula <- stats::as.formula(formula, env = env)
  if (!inherits(formula, "formula")) stop("'formula' must be a formula or a string holding one", call. = FALSE)
  i <- length(formula)
  formula[[i]] <- expand_double_bars(formula[[i]])
  formula
}

#' Random-effect terms of a mixed-model formula
#'
#' Finds the `(lhs | group)` and `(lhs || group)` terms of a formula and expands
#' them as lme4 does: `(x || g)` becomes `(1 | g) + (0 + x | g)` and `(1 | a/b)`
#' becomes `(1 | b:a) + (1 | a)`. A term under another formula operator
#' (`x * (1 | g)`, `x - (1 | g)`) is an error naming it.
#'
#' @param formula a formula in lme4's syntax.
#' @return A list with one element per random-effect term, each a list with `lhs`
#'   (a one-sided formula for the term's model matrix) and `group` (the grouping
#'   expression as a string, e.g. `"Subject"` or `"cask:batch"`).
#' @examples
#' random_terms(y ~ x + (x || g) + (1 | a/b))
#' @export
random_terms <- function(formula) {
  bars <- find_bars(expand_double_bars(formula[[length(formula)]]))
  out <- list()
  for (bar in bars) {
    for (g in expand_nesting(bar[[3]])) {
      out[[length(out) + 1L]] <- list(lhs = stats::as.formula(call("~", bar[[2]]), env = environment(formula)),
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
#' Drops the random-effect terms `( | )` from a formula, wherever [random_terms()]
#' finds them (in sums and parentheses).
#'
#' @param formula a formula in lme4's syntax.
#' @return The formula without its random-effect terms (`~ 1` on the right if nothing
#'   is left).
#' @examples
#' fixed_formula(Reaction ~ Days + (Days | Subject))
#' fixed_formula(y ~ (1 | g) - 1)
#' @export
fixed_formula <- function(formula) {
  drop_bars <- function(e) {
    if (!is.call(e)) return(e)
    if (is_bar(e)) return(NULL)
    op <- as.character(e[[1]])[1]
    if (op == "(") {
      inner <- drop_bars(e[[2]])
      return(if (is.null(inner)) NULL else call("(", inner))
    }
    if (op %in% c("+", "-")) {
      parts <- lapply(as.list(e)[-1], drop_bars)
      if (length(parts) == 1L) return(if (is.null(parts[[1]])) NULL else call(op, parts[[1]]))
      if (is.null(parts[[2]])) return(parts[[1]])
      if (is.null(parts[[1]])) return(if (op == "+") parts[[2]] else call("-", parts[[2]]))
      return(call(op, parts[[1]], parts[[2]]))
    }
    e
  }
  rhs <- drop_bars(formula[[length(formula)]])
  if (is.null(rhs)) rhs <- 1
  out <- if (length(formula) == 3L) call("~", formula[[2]], rhs) else call("~", rhs)
  stats::as.formula(out, env = environment(formula))
}

# Residual covariance terms in the mmrm package's notation: `us(visit | id)`,
# `ar1(visit | arm / id)`, ... (types in R/covstruct.R). Read where a random-effect
# term is read (in sums and parentheses); at most one per model.
is_covstruct_call <- function(e) {
  is.call(e) && is.name(e[[1]]) && as.character(e[[1]]) %in% covstruct_types && length(e) == 2L &&
    is.call(e[[2]]) && identical(e[[2]][[1]], as.name("|"))
}

find_covstructs <- function(e) {
  # the common case, no such name anywhere, without walking the formula
  if (!is.call(e) || !any(covstruct_types %in% all.names(e))) return(list())
  if (is_covstruct_call(e)) return(list(e))
  op <- as.character(e[[1]])[1]
  if (op %in% c("(", "+", "-")) return(do.call(c, lapply(as.list(e)[-1], find_covstructs)))
  if (op %in% formula_ops) {
    inner <- do.call(c, lapply(as.list(e)[-1], find_covstructs))
    if (length(inner))
      stop(sprintf("the covariance term %s is an operand of '%s' in '%s': add it with '+'",
                   deparse1(inner[[1]]), op, deparse1(e)), call. = FALSE)
  }
  list()
}

# The covariance term of a formula, parsed: NULL when there is none.
covstruct_term <- function(formula) {
  cs <- find_covstructs(formula[[length(formula)]])
  if (length(cs) == 0L) return(NULL)
  if (length(cs) > 1L)
    stop(sprintf("the formula has %d residual covariance terms (%s): a model takes at most one", length(cs),
                 paste(vapply(cs, deparse1, ""), collapse = ", ")), call. = FALSE)
  e <- cs[[1]]
  bar <- e[[2]]
  txt <- deparse1(e)
  rhs <- bar[[3]]
  group <- NULL
  if (is.call(rhs) && identical(rhs[[1]], as.name("/"))) {
    group <- rhs[[2]]
    rhs <- rhs[[3]]
  }
  for (v in list(bar[[2]], rhs, group)) {
    if (!is.null(v) && !is.name(v))
      stop(sprintf("in the covariance term %s, '%s' must be a variable name", txt, deparse1(v)), call. = FALSE)
  }
  list(type = as.character(e[[1]]), visit = as.character(bar[[2]]), subject = as.character(rhs),
       group = if (is.null(group)) NULL else as.character(group), text = txt)
}

# The formula without its covariance term.
drop_covstruct <- function(formula) {
  drop <- function(e) {
    if (!is.call(e)) return(e)
    if (is_covstruct_call(e)) return(NULL)
    op <- as.character(e[[1]])[1]
    if (op == "(") {
      inner <- drop(e[[2]])
      return(if (is.null(inner)) NULL else call("(", inner))
    }
    if (op %in% c("+", "-")) {
      parts <- lapply(as.list(e)[-1], drop)
      if (length(parts) == 1L) return(if (is.null(parts[[1]])) NULL else call(op, parts[[1]]))
      if (is.null(parts[[2]])) return(parts[[1]])
      if (is.null(parts[[1]])) return(if (op == "+") parts[[2]] else call("-", parts[[2]]))
      return(call(op, parts[[1]], parts[[2]]))
    }
    e
  }
  i <- length(formula)
  rhs <- drop(formula[[i]])
  formula[[i]] <- if (is.null(rhs)) 1 else rhs
  formula
}
