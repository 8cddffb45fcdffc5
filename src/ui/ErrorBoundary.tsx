/** Last line of defence: a render error shows a message and a way back, never a blank page. */
import { Component, type ErrorInfo, type ReactNode } from 'react';

interface State {
  error: Error | null;
}

export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.warn('memlab: view crashed', error, info.componentStack);
  }

  override render(): ReactNode {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <div className="panel crash" role="alert" data-testid="crash">
        <h2>This view stopped working</h2>
        <p>{error.message}</p>
        <p>Your settings are kept. Try again, or reload the page if it keeps happening.</p>
        <button type="button" onClick={() => this.setState({ error: null })}>
          Try again
        </button>{' '}
        <button type="button" className="secondary" onClick={() => location.reload()}>
          Reload page
        </button>
      </div>
    );
  }
}
