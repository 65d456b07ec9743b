package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RestrictedKubeconfig creates a ClusterRole with rules and a ClusterRoleBinding of it to user (both
// named karpctl-restricted-USER), writes a kubeconfig for user (no groups), and waits until the
// authorizer allows user the first rule: RBAC objects reach the apiserver's authorizer through an
// informer, a moment after the create, and a command run before that would be refused wholesale.
func (e *Env) RestrictedKubeconfig(ctx context.Context, user string, rules ...rbacv1.PolicyRule) (string, error) {
	if len(rules) == 0 {
		return "", errors.New("RestrictedKubeconfig: no rules")
	}
	name := "karpctl-restricted-" + user
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := e.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating ClusterRole %s: %w", name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if _, err := e.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating ClusterRoleBinding %s: %w", name, err)
	}
	kc, err := e.WriteKubeconfig(user, user)
	if err != nil {
		return "", err
	}
	if err := e.waitAllowed(ctx, user, rules[0]); err != nil {
		return "", err
	}
	return kc, nil
}

// waitAllowed polls a SubjectAccessReview for user (as an authenticated request of theirs would be
// seen) against the first verb, group and resource of rule until the authorizer allows it.
func (e *Env) waitAllowed(ctx context.Context, user string, rule rbacv1.PolicyRule) error {
	if len(rule.Verbs) == 0 {
		return errors.New("RestrictedKubeconfig: the first rule has no verbs")
	}
	spec := authorizationv1.SubjectAccessReviewSpec{User: user, Groups: []string{"system:authenticated"}}
	switch {
	case len(rule.NonResourceURLs) > 0:
		spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: rule.NonResourceURLs[0], Verb: rule.Verbs[0]}
	case len(rule.Resources) > 0 && len(rule.APIGroups) > 0:
		resource, sub, _ := strings.Cut(rule.Resources[0], "/")
		attrs := &authorizationv1.ResourceAttributes{Verb: rule.Verbs[0], Group: rule.APIGroups[0], Resource: resource, Subresource: sub}
		if len(rule.ResourceNames) > 0 {
			attrs.Name = rule.ResourceNames[0]
		}
		spec.ResourceAttributes = attrs
	default:
		return errors.New("RestrictedKubeconfig: the first rule names no resource or non-resource URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last string
	if WaitFor(ctx, func() bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: spec}
		got, err := e.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		switch {
		case err != nil:
			last = err.Error()
			return false
		case !got.Status.Allowed:
			last = fmt.Sprintf("denied: %q %s", got.Status.Reason, got.Status.EvaluationError)
			return false
		}
		return true
	}) {
		return nil
	}
	return fmt.Errorf("RBAC for %s never took effect (%v): last SubjectAccessReview %s", user, ctx.Err(), last)
}
